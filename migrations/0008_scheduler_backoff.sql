CREATE TABLE `schedule_backoff` (
	`uid` text PRIMARY KEY NOT NULL,
	`attempts` integer NOT NULL,
	`tried_at` integer NOT NULL,
	`tried_rev` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `schedule_backoff_rev` ON `schedule_backoff` (`tried_rev`) WHERE attempts > 0;--> statement-breakpoint
CREATE INDEX `schedule_backoff_at` ON `schedule_backoff` (`tried_at`) WHERE attempts > 0;--> statement-breakpoint
CREATE INDEX `schedule_backoff_ignored` ON `schedule_backoff` (`uid`,`tried_rev`) WHERE attempts = 0;--> statement-breakpoint
CREATE TABLE `schedule_moves` (
	`id` integer PRIMARY KEY NOT NULL,
	`rev` integer NOT NULL
);
--> statement-breakpoint
DROP INDEX `objects_node`;--> statement-breakpoint
CREATE INDEX `objects_unbound` ON `objects` (`uid`) WHERE kind = 'Pod' AND COALESCE(node_name, '') = '';--> statement-breakpoint
CREATE INDEX `objects_node` ON `objects` (`kind`,`node_name`,`rv`);--> statement-breakpoint
INSERT INTO `schedule_moves` (`id`, `rev`) VALUES (1, (SELECT `rev` FROM `revision` WHERE `id` = 1));
--> statement-breakpoint
-- The change-log triggers again, leaving alone a row whose writer set its `rv` to the next revision in
-- the statement that wrote the object (the store does): no second write of the row. Other writers'
-- rows get their rv from the trigger, as before.
DROP TRIGGER `objects_added`;
--> statement-breakpoint
DROP TRIGGER `objects_modified`;
--> statement-breakpoint
CREATE TRIGGER `objects_added` AFTER INSERT ON `objects` BEGIN
  UPDATE `revision` SET `rev` = `rev` + 1 WHERE `id` = 1;
  UPDATE `objects` SET `rv` = (SELECT `rev` FROM `revision` WHERE `id` = 1)
    WHERE rowid = NEW.rowid AND NEW.`rv` IS NOT (SELECT `rev` FROM `revision` WHERE `id` = 1);
  INSERT INTO `changes` (`rev`, `kind`, `namespace`, `name`, `type`, `object`)
    VALUES ((SELECT `rev` FROM `revision` WHERE `id` = 1), NEW.`kind`, NEW.`namespace`, NEW.`name`, 'ADDED', NEW.`object`);
END;
--> statement-breakpoint
CREATE TRIGGER `objects_modified` AFTER UPDATE OF `object` ON `objects` BEGIN
  UPDATE `revision` SET `rev` = `rev` + 1 WHERE `id` = 1;
  UPDATE `objects` SET `rv` = (SELECT `rev` FROM `revision` WHERE `id` = 1)
    WHERE rowid = NEW.rowid AND NEW.`rv` IS NOT (SELECT `rev` FROM `revision` WHERE `id` = 1);
  INSERT INTO `changes` (`rev`, `kind`, `namespace`, `name`, `type`, `object`)
    VALUES ((SELECT `rev` FROM `revision` WHERE `id` = 1), NEW.`kind`, NEW.`namespace`, NEW.`name`, 'MODIFIED', NEW.`object`);
END;
