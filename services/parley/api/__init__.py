"""The api service: profiles, chats, members, history, sync and read state over HTTP."""
