CREATE TABLE `inbox_chats` (
	`device_id` text NOT NULL,
	`chat` text NOT NULL,
	`name` text,
	`last_message_id` text NOT NULL,
	`last_sender` text NOT NULL,
	`last_type` text NOT NULL,
	`last_text` text DEFAULT '' NOT NULL,
	`last_at` integer NOT NULL,
	PRIMARY KEY(`device_id`, `chat`),
	FOREIGN KEY (`device_id`) REFERENCES `devices`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `inbox_chats_last_idx` ON `inbox_chats` (`device_id`,`last_at`);--> statement-breakpoint
CREATE INDEX `inbox_chats_last_at_idx` ON `inbox_chats` (`last_at`);--> statement-breakpoint
CREATE TABLE `inbox_messages` (
	`device_id` text NOT NULL,
	`id` text NOT NULL,
	`chat` text NOT NULL,
	`sender` text NOT NULL,
	`sender_name` text,
	`from_me` integer DEFAULT false NOT NULL,
	`type` text NOT NULL,
	`text` text DEFAULT '' NOT NULL,
	`quoted_id` text,
	`mentions` text,
	`media` text,
	`details` text,
	`timestamp` integer NOT NULL,
	`received_at` integer NOT NULL,
	`edited_at` integer,
	`deleted_at` integer,
	PRIMARY KEY(`device_id`, `id`),
	FOREIGN KEY (`device_id`) REFERENCES `devices`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `inbox_messages_chat_idx` ON `inbox_messages` (`device_id`,`chat`,`timestamp`);--> statement-breakpoint
CREATE INDEX `inbox_messages_received_idx` ON `inbox_messages` (`received_at`);--> statement-breakpoint
CREATE INDEX `messages_device_to_created_idx` ON `messages` (`device_id`,`to`,`created_at`);