# Empty compiler generated dependencies file for kvserver.
# This may be replaced when dependencies are built.
