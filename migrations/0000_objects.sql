CREATE TABLE `changes` (
	`rev` integer PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`object` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `changes_kind` ON `changes` (`kind`,`rev`);--> statement-breakpoint
CREATE TABLE `objects` (
	`kind` text NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`uid` text NOT NULL,
	`rv` integer NOT NULL,
	`owner_uid` text,
	`object` text NOT NULL,
	`summary` text,
	`node_name` text GENERATED ALWAYS AS (json_extract(object, '$.spec.nodeName')) VIRTUAL,
	`phase` text GENERATED ALWAYS AS (json_extract(object, '$.status.phase')) VIRTUAL,
	PRIMARY KEY(`kind`, `namespace`, `name`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `objects_uid` ON `objects` (`uid`);--> statement-breakpoint
CREATE INDEX `objects_owner` ON `objects` (`owner_uid`);--> statement-breakpoint
CREATE INDEX `objects_node` ON `objects` (`kind`,`node_name`);--> statement-breakpoint
CREATE TABLE `revision` (
	`id` integer PRIMARY KEY NOT NULL,
	`rev` integer NOT NULL,
	`compacted` integer NOT NULL
);
