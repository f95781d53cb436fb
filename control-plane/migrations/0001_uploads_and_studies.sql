CREATE TABLE "instances" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"group_id" uuid NOT NULL,
	"facility_id" uuid NOT NULL,
	"gateway_id" uuid,
	"study_id" uuid NOT NULL,
	"series_id" uuid NOT NULL,
	"sop_instance_uid" text NOT NULL,
	"sop_class_uid" text NOT NULL,
	"instance_number" integer,
	"number_of_frames" integer,
	"version" integer NOT NULL,
	"current" boolean NOT NULL,
	"object_id" text NOT NULL,
	"blob_key" text NOT NULL,
	"sha256" text NOT NULL,
	"object_sha256" text NOT NULL,
	"plain_bytes" bigint NOT NULL,
	"object_bytes" bigint NOT NULL,
	"transfer_syntax_uid" text NOT NULL,
	"calling_ae_title" text NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"stored_at" timestamp with time zone NOT NULL,
	"metadata" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "series" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"group_id" uuid NOT NULL,
	"study_id" uuid NOT NULL,
	"series_instance_uid" text NOT NULL,
	"modality" text,
	"series_number" text,
	"description" text,
	"instance_count" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "studies" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"group_id" uuid NOT NULL,
	"facility_id" uuid NOT NULL,
	"study_instance_uid" text NOT NULL,
	"patient_name" text,
	"patient_id" text,
	"patient_birth_date" text,
	"patient_sex" text,
	"patient_name_search" text DEFAULT '' NOT NULL,
	"patient_id_search" text DEFAULT '' NOT NULL,
	"study_date" text,
	"study_time" text,
	"description" text,
	"accession_number" text,
	"referring_physician" text,
	"modalities" text[] DEFAULT '{}'::text[] NOT NULL,
	"series_count" integer DEFAULT 0 NOT NULL,
	"instance_count" integer DEFAULT 0 NOT NULL,
	"status" text DEFAULT 'receiving' NOT NULL,
	"updated" boolean DEFAULT false NOT NULL,
	"first_received_at" timestamp with time zone NOT NULL,
	"last_received_at" timestamp with time zone NOT NULL,
	"first_stored_at" timestamp with time zone NOT NULL,
	"last_stored_at" timestamp with time zone NOT NULL,
	"completed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "study_events" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"study_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"detail" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "uploads" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"group_id" uuid NOT NULL,
	"gateway_id" uuid NOT NULL,
	"object_id" text NOT NULL,
	"sop_instance_uid" text NOT NULL,
	"study_instance_uid" text,
	"sha256" text NOT NULL,
	"plain_bytes" bigint NOT NULL,
	"object_bytes" bigint NOT NULL,
	"part_bytes" integer NOT NULL,
	"blob_key" text NOT NULL,
	"backend_upload_id" text,
	"state" text DEFAULT 'open' NOT NULL,
	"received_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "facilities" ADD COLUMN "stable_period_seconds" integer DEFAULT 60 NOT NULL;--> statement-breakpoint
ALTER TABLE "instances" ADD CONSTRAINT "instances_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "instances" ADD CONSTRAINT "instances_facility_id_facilities_id_fk" FOREIGN KEY ("facility_id") REFERENCES "public"."facilities"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "instances" ADD CONSTRAINT "instances_gateway_id_gateways_id_fk" FOREIGN KEY ("gateway_id") REFERENCES "public"."gateways"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "instances" ADD CONSTRAINT "instances_study_id_studies_id_fk" FOREIGN KEY ("study_id") REFERENCES "public"."studies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "instances" ADD CONSTRAINT "instances_series_id_series_id_fk" FOREIGN KEY ("series_id") REFERENCES "public"."series"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "series" ADD CONSTRAINT "series_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "series" ADD CONSTRAINT "series_study_id_studies_id_fk" FOREIGN KEY ("study_id") REFERENCES "public"."studies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "studies" ADD CONSTRAINT "studies_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "studies" ADD CONSTRAINT "studies_facility_id_facilities_id_fk" FOREIGN KEY ("facility_id") REFERENCES "public"."facilities"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "study_events" ADD CONSTRAINT "study_events_study_id_studies_id_fk" FOREIGN KEY ("study_id") REFERENCES "public"."studies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "uploads" ADD CONSTRAINT "uploads_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "uploads" ADD CONSTRAINT "uploads_gateway_id_gateways_id_fk" FOREIGN KEY ("gateway_id") REFERENCES "public"."gateways"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "instances_group_sop_sha_key" ON "instances" USING btree ("group_id","sop_instance_uid","sha256");--> statement-breakpoint
CREATE UNIQUE INDEX "instances_group_sop_version_key" ON "instances" USING btree ("group_id","sop_instance_uid","version");--> statement-breakpoint
CREATE INDEX "instances_series_idx" ON "instances" USING btree ("series_id","current");--> statement-breakpoint
CREATE INDEX "instances_study_idx" ON "instances" USING btree ("study_id","current");--> statement-breakpoint
CREATE UNIQUE INDEX "series_study_uid_key" ON "series" USING btree ("study_id","series_instance_uid");--> statement-breakpoint
CREATE UNIQUE INDEX "studies_group_uid_key" ON "studies" USING btree ("group_id","study_instance_uid");--> statement-breakpoint
CREATE INDEX "studies_group_received_idx" ON "studies" USING btree ("group_id","last_received_at","id");--> statement-breakpoint
CREATE INDEX "studies_group_name_idx" ON "studies" USING btree ("group_id","patient_name_search");--> statement-breakpoint
CREATE INDEX "studies_group_pid_idx" ON "studies" USING btree ("group_id","patient_id_search");--> statement-breakpoint
CREATE INDEX "studies_receiving_idx" ON "studies" USING btree ("status","last_received_at");--> statement-breakpoint
CREATE INDEX "study_events_study_idx" ON "study_events" USING btree ("study_id","at");--> statement-breakpoint
CREATE UNIQUE INDEX "uploads_group_object_key" ON "uploads" USING btree ("group_id","object_id");--> statement-breakpoint
CREATE INDEX "uploads_open_study_idx" ON "uploads" USING btree ("group_id","study_instance_uid","state");