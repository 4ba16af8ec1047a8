"""Dispatch: the guide's templates over Teams and email, at each severity's cadence, through a durable outbox."""
