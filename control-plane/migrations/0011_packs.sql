CREATE TABLE "pack_blobs" (
	"blob_key" text PRIMARY KEY NOT NULL,
	"group_id" uuid NOT NULL,
	"pack_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "packs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"group_id" uuid NOT NULL,
	"gateway_id" uuid NOT NULL,
	"bytes" bigint NOT NULL,
	"members" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "instances" ADD COLUMN "blob_offset" bigint;--> statement-breakpoint
ALTER TABLE "uploads" ADD COLUMN "blob_offset" bigint;--> statement-breakpoint
ALTER TABLE "pack_blobs" ADD CONSTRAINT "pack_blobs_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "packs" ADD CONSTRAINT "packs_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "packs" ADD CONSTRAINT "packs_gateway_id_gateways_id_fk" FOREIGN KEY ("gateway_id") REFERENCES "public"."gateways"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "pack_blobs_created_idx" ON "pack_blobs" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "instances_blob_key_idx" ON "instances" USING btree ("blob_key");--> statement-breakpoint
CREATE INDEX "uploads_blob_key_idx" ON "uploads" USING btree ("blob_key");