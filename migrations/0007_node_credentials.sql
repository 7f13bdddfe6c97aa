CREATE TABLE `join_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`secret_hash` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`created` integer NOT NULL,
	`expires` integer
);
--> statement-breakpoint
CREATE TABLE `node_credentials` (
	`node_name` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`join_token_id` text,
	`created` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `node_credentials_token` ON `node_credentials` (`token_hash`);