"""The on-call person's side: heads-up before shifts, schedule changes, coverage gaps, swaps, hours, leave."""
