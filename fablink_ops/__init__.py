"""fablink-ops: provisions and operates FabLink's production AWS environment."""
