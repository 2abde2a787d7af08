-- As SQLite's V012: a request's approval slots and the plan its approvers were shown; the
-- capabilities each approver held when they clicked.
ALTER TABLE operations ADD COLUMN quorum TEXT;
ALTER TABLE operations ADD COLUMN plan TEXT;
ALTER TABLE approvals ADD COLUMN roles TEXT;
