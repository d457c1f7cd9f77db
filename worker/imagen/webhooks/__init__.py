"""Events leaving the system as signed webhooks (Standard Webhooks), sent from the database's outbox."""
