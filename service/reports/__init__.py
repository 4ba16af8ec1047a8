"""Reports over what Herald recorded: on-call hours for pay and fairness."""
