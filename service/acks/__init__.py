"""Acknowledgements from outside Herald: signed tokens, ack links, email replies."""
