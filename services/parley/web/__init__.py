"""The web client's static file server: `parley serve web` serves the built React app."""
