CREATE TABLE `hpa_state` (
	`uid` text PRIMARY KEY NOT NULL,
	`synced` integer NOT NULL,
	`recommendations` text DEFAULT '[]' NOT NULL,
	`scale_events` text DEFAULT '[]' NOT NULL
);
--> statement-breakpoint
CREATE TABLE `node_usage` (
	`node` text PRIMARY KEY NOT NULL,
	`cpu_nanocores` integer NOT NULL,
	`memory_bytes` integer NOT NULL,
	`window_ms` integer NOT NULL,
	`sampled` integer NOT NULL,
	`received` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `node_usage_received` ON `node_usage` (`received`);--> statement-breakpoint
CREATE TABLE `pod_usage` (
	`uid` text PRIMARY KEY NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`node` text NOT NULL,
	`cpu_nanocores` integer NOT NULL,
	`memory_bytes` integer NOT NULL,
	`containers` text DEFAULT '[]' NOT NULL,
	`window_ms` integer NOT NULL,
	`sampled` integer NOT NULL,
	`received` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `pod_usage_node` ON `pod_usage` (`node`);--> statement-breakpoint
CREATE INDEX `pod_usage_received` ON `pod_usage` (`received`);