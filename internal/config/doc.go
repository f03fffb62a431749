// Package config owns the configuration of both binaries: the structs of
// `gantry server` (Server) and `gantry agent` / gantry-agent (Agent), their
// defaults, their flags, the GANTRY_<FLAG> environment variables that stand
// in for flags not given on the command line, the API credentials, and
// Validate, which reports every problem at once.
//
// Precedence is defaults < environment < flags. The order of use is:
//
//	cfg := config.DefaultServer()           // or DefaultAgent()
//	cfg.RegisterFlags(fs)                   // Agent: RegisterFlags(fs, withServer)
//	fs.Parse(args)
//	config.ApplyEnv(fs, os.LookupEnv)        // GANTRY_<FLAG> for flags not set
//	cfg.LoadCredentials(os.LookupEnv)        // the access keys
//	cfg.Validate()                           // Agent: Complete() first
//
// The package imports nothing of Gantry's: the server's wiring (internal/app)
// turns AccessKey into the verifier's credentials, the agent's wiring
// (internal/agentapp) turns Agent into the agent's run-time configuration.
package config
