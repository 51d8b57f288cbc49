-- add_slices: insert the unknown slices (Planned; Cancelled in a cancelled request),
-- counting them; known slices are untouched.
-- ARGV[2] n, then n slices (see read_slice in ledger_common.lua)
-- Returns {'ok', ids Planned after the call...} or {'unknown', request} (nothing written).
return add_slices(2, tonumber(ARGV[2]), nil)
