"""What people run: series status, picking a winner, the contact sheet, progress bars, acting as a user."""
