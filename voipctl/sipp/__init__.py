"""SIPp, the one layer every user of it goes through: scenario files, argv, the credentials file."""
