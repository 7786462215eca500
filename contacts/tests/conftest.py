import pytest
from django.db import connection


@pytest.fixture
def failing_insert():
    """A real database error on inserting one number, as a crash mid-batch would look to the import."""
    number = "+14155550105"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION test_fail_insert() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.phone_number = '{number}' THEN RAISE EXCEPTION 'disk on fire'; END IF; RETURN NEW; "
                "END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                "CREATE TRIGGER test_fail_insert BEFORE INSERT ON contacts_contact "
                "FOR EACH ROW EXECUTE FUNCTION test_fail_insert()"
            )
        else:
            cursor.execute(
                "CREATE TRIGGER test_fail_insert BEFORE INSERT ON contacts_contact "
                f"WHEN NEW.phone_number = '{number}' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )

    def heal():
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER test_fail_insert ON contacts_contact"
                if connection.vendor == "postgresql"
                else "DROP TRIGGER test_fail_insert"
            )

    return heal
