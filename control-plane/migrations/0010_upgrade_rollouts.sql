CREATE TABLE "upgrade_rollouts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"group_id" uuid NOT NULL,
	"facility_id" uuid,
	"release" jsonb NOT NULL,
	"canary_gateway_id" uuid NOT NULL,
	"gateway_ids" jsonb NOT NULL,
	"state" text DEFAULT 'canary' NOT NULL,
	"reason" text,
	"requested_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "upgrade_rollouts" ADD CONSTRAINT "upgrade_rollouts_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "upgrade_rollouts" ADD CONSTRAINT "upgrade_rollouts_facility_id_facilities_id_fk" FOREIGN KEY ("facility_id") REFERENCES "public"."facilities"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "upgrade_rollouts" ADD CONSTRAINT "upgrade_rollouts_canary_gateway_id_gateways_id_fk" FOREIGN KEY ("canary_gateway_id") REFERENCES "public"."gateways"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "upgrade_rollouts_state_idx" ON "upgrade_rollouts" USING btree ("state","created_at");