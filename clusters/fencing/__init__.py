"""Who fences if this breaks: O2CB's rules (model.py), the console's view of a cluster
as the model's input (inputs.py), and the reads and alerts built on them."""
