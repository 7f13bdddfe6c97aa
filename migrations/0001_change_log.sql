-- The change log is written by triggers, so every write to `objects` gets the next global revision and a
-- log row in the same statement, whoever writes it.
INSERT INTO `revision` (`id`, `rev`, `compacted`) VALUES (1, 0, 0);
--> statement-breakpoint
CREATE TRIGGER `objects_added` AFTER INSERT ON `objects` BEGIN
  UPDATE `revision` SET `rev` = `rev` + 1 WHERE `id` = 1;
  UPDATE `objects` SET `rv` = (SELECT `rev` FROM `revision` WHERE `id` = 1) WHERE rowid = NEW.rowid;
  INSERT INTO `changes` (`rev`, `kind`, `namespace`, `name`, `type`, `object`)
    VALUES ((SELECT `rev` FROM `revision` WHERE `id` = 1), NEW.`kind`, NEW.`namespace`, NEW.`name`, 'ADDED', NEW.`object`);
END;
--> statement-breakpoint
CREATE TRIGGER `objects_modified` AFTER UPDATE OF `object` ON `objects` BEGIN
  UPDATE `revision` SET `rev` = `rev` + 1 WHERE `id` = 1;
  UPDATE `objects` SET `rv` = (SELECT `rev` FROM `revision` WHERE `id` = 1) WHERE rowid = NEW.rowid;
  INSERT INTO `changes` (`rev`, `kind`, `namespace`, `name`, `type`, `object`)
    VALUES ((SELECT `rev` FROM `revision` WHERE `id` = 1), NEW.`kind`, NEW.`namespace`, NEW.`name`, 'MODIFIED', NEW.`object`);
END;
--> statement-breakpoint
CREATE TRIGGER `objects_deleted` AFTER DELETE ON `objects` BEGIN
  UPDATE `revision` SET `rev` = `rev` + 1 WHERE `id` = 1;
  INSERT INTO `changes` (`rev`, `kind`, `namespace`, `name`, `type`, `object`)
    VALUES ((SELECT `rev` FROM `revision` WHERE `id` = 1), OLD.`kind`, OLD.`namespace`, OLD.`name`, 'DELETED', OLD.`object`);
END;
