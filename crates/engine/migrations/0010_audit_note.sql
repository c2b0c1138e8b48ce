-- Issue 23: spend. An audited request may carry a note for the record: an admin's reason to
-- let a create past a blocking budget (`Nephele-Budget-Override: <reason>`), with the budgets it
-- overrode. Bounded by the store (512 bytes) whoever fills it in.
ALTER TABLE audit_log ADD COLUMN note TEXT;
