CREATE TABLE "gateway_series" (
	"gateway_id" uuid NOT NULL,
	"resolution" text NOT NULL,
	"bucket" timestamp with time zone NOT NULL,
	"samples" integer DEFAULT 0 NOT NULL,
	"received" integer DEFAULT 0 NOT NULL,
	"delivered" integer DEFAULT 0 NOT NULL,
	"uploaded_bytes" bigint DEFAULT 0 NOT NULL,
	"backlog_count" integer DEFAULT 0 NOT NULL,
	"backlog_count_max" integer DEFAULT 0 NOT NULL,
	"backlog_bytes" bigint DEFAULT 0 NOT NULL,
	"oldest_unsent_seconds" double precision DEFAULT 0 NOT NULL,
	"latency_ms_sum" double precision DEFAULT 0 NOT NULL,
	"latency_count" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "gateway_series_gateway_id_resolution_bucket_pk" PRIMARY KEY("gateway_id","resolution","bucket")
);
--> statement-breakpoint
ALTER TABLE "gateway_series" ADD CONSTRAINT "gateway_series_gateway_id_gateways_id_fk" FOREIGN KEY ("gateway_id") REFERENCES "public"."gateways"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "gateway_series_prune_idx" ON "gateway_series" USING btree ("resolution","bucket");