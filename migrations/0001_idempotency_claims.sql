ALTER TABLE `idempotency_keys` ADD `fingerprint` text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE INDEX `idempotency_keys_created_idx` ON `idempotency_keys` (`created_at`);