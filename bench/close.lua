wrk.headers["Connection"] = "close"
