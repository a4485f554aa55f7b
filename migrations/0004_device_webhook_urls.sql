ALTER TABLE `devices` ADD `status_webhook_url` text;--> statement-breakpoint
ALTER TABLE `devices` ADD `connection_webhook_url` text;