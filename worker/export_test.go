package worker

// WaitHandlers waits until every handler invocation the server started has
// returned, including one Shutdown stopped waiting for (ErrStoppedRecording).
// Tests call it before their store and Redis close, so an abandoned
// handler neither writes to closed clients nor logs after its test ended.
func (s *Server) WaitHandlers() { s.running.Wait() }
