-- LTV is money in US dollars: whole cents, like interactions.ltv_usd. 0010 made the column an
-- unbounded numeric, which stored `ltv_amount: 5e-324` with 324 decimal places. The API now refuses
-- amounts finer than a cent (400) and the column says the same; wide enough that no realistic sum
-- overflows (10^18 dollars). Existing values round to the cent.
ALTER TABLE user_current_status ALTER COLUMN ltv_usd TYPE numeric(20,2);
