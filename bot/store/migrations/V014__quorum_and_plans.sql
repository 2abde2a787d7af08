-- Mixed-role quorum and plans bound to approvals: a request keeps the approval slots it needs
-- (JSON: a list of capability lists, one per slot; NULL for the N-of-M form) and the plan its
-- approvers were shown (JSON, with its digest); a decision keeps the capabilities its giver held
-- when they clicked (JSON list; NULL for decisions made before this version).
ALTER TABLE operations ADD COLUMN quorum TEXT;
ALTER TABLE operations ADD COLUMN plan TEXT;
ALTER TABLE approvals ADD COLUMN roles TEXT;
