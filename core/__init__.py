"""What every front end shares: the settings of the service and the command line."""
