CREATE TABLE `pass_lease` (
	`id` integer PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`expires` integer NOT NULL,
	`wanted` integer DEFAULT 0 NOT NULL
);
