CREATE TABLE `service_account_keys` (
	`id` integer PRIMARY KEY NOT NULL,
	`kid` text NOT NULL,
	`alg` text NOT NULL,
	`private_jwk` text NOT NULL,
	`public_jwk` text NOT NULL,
	`created` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `user_tokens` (
	`name` text PRIMARY KEY NOT NULL,
	`uid` text NOT NULL,
	`token_hash` text NOT NULL,
	`groups` text DEFAULT '[]' NOT NULL,
	`created` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `user_tokens_token` ON `user_tokens` (`token_hash`);