"""What draws maps: the command-centre map's layers, the grid painter's colours, heat and context outlines."""
