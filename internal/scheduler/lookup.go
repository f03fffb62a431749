package scheduler

// Task returns a copy of the committed task with ID id (its ARN) while it
// holds resources: its instance, group and demand. Tentative reservations
// are not returned.
func (c *Cluster) Task(id string) (Task, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.tasks[id]
	if !ok || e.tentative {
		return Task{}, false
	}
	t := e.task
	t.Demand.TCPPorts = append([]int32(nil), t.Demand.TCPPorts...)
	t.Demand.UDPPorts = append([]int32(nil), t.Demand.UDPPorts...)
	return t, true
}
