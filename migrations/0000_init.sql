CREATE TABLE `contact_groups` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `contacts` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`number` text NOT NULL,
	`group_id` text,
	FOREIGN KEY (`group_id`) REFERENCES `contact_groups`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE TABLE `devices` (
	`id` text PRIMARY KEY NOT NULL,
	`host_id` text,
	`name` text NOT NULL,
	`webhook_url` text DEFAULT '' NOT NULL,
	`webhook_secret` text NOT NULL,
	`api_key_hash` text NOT NULL,
	`api_key_masked` text NOT NULL,
	`status` text DEFAULT 'DISCONNECTED' NOT NULL,
	`status_reason` text,
	`qr` text,
	`phone_number` text,
	`push_name` text,
	`total_messages_sent` integer DEFAULT 0 NOT NULL,
	`send_interval_ms` integer DEFAULT 0 NOT NULL,
	`send_jitter_ms` integer DEFAULT 0 NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`host_id`) REFERENCES `hosts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `devices_api_key_hash_unique` ON `devices` (`api_key_hash`);--> statement-breakpoint
CREATE TABLE `hosts` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`url` text NOT NULL,
	`secret` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `idempotency_keys` (
	`key` text PRIMARY KEY NOT NULL,
	`status` integer NOT NULL,
	`body` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `messages` (
	`id` text PRIMARY KEY NOT NULL,
	`device_id` text NOT NULL,
	`to` text NOT NULL,
	`type` text NOT NULL,
	`preview` text,
	`status` text DEFAULT 'queued' NOT NULL,
	`wa_message_id` text,
	`error` text,
	`scheduled_at` integer,
	`attempts` integer DEFAULT 0 NOT NULL,
	`sent_at` integer,
	`delivered_at` integer,
	`read_at` integer,
	`failed_at` integer,
	`created_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`device_id`) REFERENCES `devices`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `messages_device_created_idx` ON `messages` (`device_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `messages_wa_message_id_idx` ON `messages` (`wa_message_id`);