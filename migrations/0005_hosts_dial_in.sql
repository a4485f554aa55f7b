-- D1 always enforces foreign keys and runs a migration as one transaction: deferring the check
-- to the commit lets devices keep pointing at "hosts" while the table is rebuilt.
PRAGMA defer_foreign_keys=ON;--> statement-breakpoint
CREATE TABLE `__new_hosts` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`url` text,
	`secret` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_hosts`("id", "name", "url", "secret", "created_at") SELECT "id", "name", "url", "secret", "created_at" FROM `hosts`;--> statement-breakpoint
DROP TABLE `hosts`;--> statement-breakpoint
ALTER TABLE `__new_hosts` RENAME TO `hosts`;--> statement-breakpoint
PRAGMA defer_foreign_keys=OFF;