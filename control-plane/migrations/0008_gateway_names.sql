ALTER TABLE "gateways" ADD COLUMN "name" text;--> statement-breakpoint
-- Existing gateways get the default name (facility name and host name); a second gateway on the same
-- host in the same facility gets " (2)", and so on, in enrolment order.
UPDATE "gateways" g SET "name" = n."name" FROM (
  SELECT gw."id",
    left(f."name" || ' ' || gw."hostname", 58) || CASE WHEN row_number() OVER w > 1 THEN ' (' || row_number() OVER w || ')' ELSE '' END AS "name"
  FROM "gateways" gw JOIN "facilities" f ON f."id" = gw."facility_id"
  WINDOW w AS (PARTITION BY gw."facility_id", left(f."name" || ' ' || gw."hostname", 58) ORDER BY gw."enrolled_at", gw."id")
) n WHERE n."id" = g."id";--> statement-breakpoint
ALTER TABLE "gateways" ALTER COLUMN "name" SET NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "gateways_facility_name_key" ON "gateways" USING btree ("facility_id","name");
