"""The drift capability's tables and reads: reference profiles, and served traffic as drift reads it."""
