# Empty dependencies file for kvserverlib.
# This may be replaced when dependencies are built.
