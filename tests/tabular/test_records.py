from modelledger.tabular import count_matching
from tests.tabular import csv_table, parquet_table


def test_count_matching_trims_the_column(tmp_path):
    t = csv_table(tmp_path, "t", 'user_id,v\n" 42 ",1\n42,2\n420,3\n', label="users.csv")
    assert count_matching(t, "user_id", "42") == 2
    assert count_matching(t, "user_id", "4") == 0


def test_count_matching_on_typed_columns(tmp_path):
    t = parquet_table(tmp_path, "p", "SELECT i AS id, i % 3 = 0 AS flag FROM range(10) t(i)")
    assert count_matching(t, "id", "7") == 1
    assert count_matching(t, "flag", "true") == 4


def test_absent_column_is_none(tmp_path):
    t = csv_table(tmp_path, "t", "a\n1\n")
    assert count_matching(t, "user_id", "1") is None
    assert count_matching(t, "A", "1") is None  # names match exactly, not case-insensitively


def test_values_and_names_are_never_sql(tmp_path):
    t = csv_table(tmp_path, "t", 'id,"na""me"\n1,x\n2,"o\'k"\n')
    assert count_matching(t, 'na"me', "x' OR '1'='1") == 0
    assert count_matching(t, 'na"me', "o'k") == 1
    assert count_matching(t, 'na"me"); DROP TABLE x; --', "x") is None
