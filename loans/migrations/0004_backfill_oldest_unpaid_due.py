"""Fill loans.oldest_unpaid_due for loans disbursed before the column existed (the sweep reads it)."""

from django.db import migrations

SQL = """
UPDATE loans_loan l SET oldest_unpaid_due = x.d
  FROM (SELECT i.loan_id, min(i.due_date) AS d FROM loans_installment i
         WHERE i.principal_paid < i.principal_due OR i.interest_paid < i.interest_due
         GROUP BY i.loan_id) x
 WHERE x.loan_id = l.id AND l.oldest_unpaid_due IS NULL
"""


class Migration(migrations.Migration):
    dependencies = [("loans", "0003_remove_borrower_insert_insert_and_more")]
    operations = [migrations.RunSQL(SQL, migrations.RunSQL.noop)]
