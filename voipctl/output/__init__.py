"""Write a RenderedTree to disk atomically, with a manifest; diff against what is there."""
