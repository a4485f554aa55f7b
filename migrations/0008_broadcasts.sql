CREATE TABLE `broadcasts` (
	`id` text PRIMARY KEY NOT NULL,
	`device_id` text NOT NULL,
	`group_id` text,
	`message` text NOT NULL,
	`media_url` text,
	`media_type` text,
	`total` integer NOT NULL,
	`scheduled_at` integer,
	`delay` text,
	`cancelled_at` integer,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`device_id`) REFERENCES `devices`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`group_id`) REFERENCES `contact_groups`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `broadcasts_device_idx` ON `broadcasts` (`device_id`,`id`);--> statement-breakpoint
ALTER TABLE `messages` ADD `broadcast_id` text;--> statement-breakpoint
CREATE INDEX `messages_broadcast_idx` ON `messages` (`broadcast_id`,`status`);