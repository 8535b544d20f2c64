"""Folium pages: heat maps, grid choropleths and the live-update script."""
