"""PostgreSQL: the pool, the migrations, and one repository module per aggregate."""
