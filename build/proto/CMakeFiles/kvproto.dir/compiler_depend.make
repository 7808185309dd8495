# Empty compiler generated dependencies file for kvproto.
# This may be replaced when dependencies are built.
