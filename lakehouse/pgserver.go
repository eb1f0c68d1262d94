//go:build cgo

package lakehouse

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/telemetrylake/telemetrylake/lake/store"
	"github.com/telemetrylake/telemetrylake/lakehouse/parts"
)

// ServeOptions configure `lakehouse serve`: one tenant's lake over the PostgreSQL wire protocol.
type ServeOptions struct {
	Store         store.Store
	CacheDir      string
	CacheMaxBytes int64
	// TokenFile is the tenant's token file (api/tokenfile); a token with the query permission is
	// the password. AllowAnonymous accepts any password instead, for local use only.
	TokenFile      string
	AllowAnonymous bool
	// TLS, when set, is offered on SSLRequest and required before a password is asked for.
	TLS *tls.Config
	// DefaultWindow is read by a statement that bounds neither end of its time; MaxWindow bounds
	// what one statement may read.
	DefaultWindow, MaxWindow time.Duration
	// MaxRows and MaxResultBytes bound one result; StatementTimeout one statement.
	MaxRows          int
	MaxResultBytes   int64
	StatementTimeout time.Duration
	// MaxConcurrentQueries bounds the statements that read the lake at once; one waits for a
	// slot up to QueueTimeout.
	MaxConcurrentQueries int
	QueueTimeout         time.Duration
	// MaxConnections bounds the connections logged in at once; one more is refused with 53300.
	MaxConnections int
	Logger         *slog.Logger
	// Registry, if set, gets the server's metrics (pgmetrics.go).
	Registry prometheus.Registerer
}

// The limits' defaults (docs/contracts/lakehouse.md §6).
const (
	DefaultMaxRows              = 1_000_000
	DefaultMaxResultBytes       = 256 << 20
	DefaultStatementTimeout     = 5 * time.Minute
	DefaultMaxWindow            = 31 * 24 * time.Hour
	DefaultMaxConcurrentQueries = 4
	DefaultQueueTimeout         = 30 * time.Second
	DefaultMaxConnections       = 100
)

func (o *ServeOptions) defaults() {
	if o.DefaultWindow <= 0 {
		o.DefaultWindow = DefaultServeWindow
	}
	if o.MaxWindow <= 0 {
		o.MaxWindow = DefaultMaxWindow
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxResultBytes <= 0 {
		o.MaxResultBytes = DefaultMaxResultBytes
	}
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = DefaultStatementTimeout
	}
	if o.MaxConcurrentQueries <= 0 {
		o.MaxConcurrentQueries = DefaultMaxConcurrentQueries
	}
	if o.QueueTimeout <= 0 {
		o.QueueTimeout = DefaultQueueTimeout
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Server is the PostgreSQL wire-protocol server over a tenant's lake. Every statement that names
// a lake table opens its own Session, over the window its predicates give: the same engine and
// the same exactly-once view as `lakehouse sql`.
type Server struct {
	opts    ServeOptions
	catalog *catalogEngine
	shape   *sql.DB
	slots   chan struct{}
	version string

	mu      sync.Mutex
	conns   map[uint32]*pgConn
	nextPID uint32
	wg      sync.WaitGroup
	closed  atomic.Bool

	// Stats, for tests and logs.
	queries atomic.Int64
	metrics *serveMetrics
}

// NewServer makes the server's catalog engines; Serve then answers connections.
func NewServer(ctx context.Context, opts ServeOptions) (*Server, error) {
	opts.defaults()
	if opts.Store == nil {
		return nil, errors.New("serve: no store")
	}
	if opts.TokenFile == "" && !opts.AllowAnonymous {
		return nil, errors.New("serve: --token-file is required (or --allow-anonymous, for local use only)")
	}
	version := "PostgreSQL " + serverVersion + " (TelemetryLake lakehouse; DuckDB " + duckdbVersion(ctx) + ")"
	cat, err := openCatalogEngine(ctx, version)
	if err != nil {
		return nil, err
	}
	shape, err := openShapeEngine(ctx)
	if err != nil {
		cat.Close()
		return nil, err
	}
	s := &Server{
		opts: opts, catalog: cat, shape: shape, version: version,
		slots: make(chan struct{}, opts.MaxConcurrentQueries),
		conns: map[uint32]*pgConn{},
	}
	s.metrics = newServeMetrics(opts.Registry, func() float64 { return float64(len(s.slots)) })
	return s, nil
}

// Serve answers connections on ln until ctx ends; it then closes every connection.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		s.closed.Store(true)
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.netConn.Close()
		}
		s.mu.Unlock()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closed.Load() {
				s.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			s.wg.Wait()
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, nc)
		}()
	}
}

// Close releases the catalog engines, once Serve has returned.
func (s *Server) Close() error {
	s.shape.Close()
	return s.catalog.Close()
}

// pgConn is one client connection.
type pgConn struct {
	srv     *Server
	netConn net.Conn
	be      *pgproto3.Backend
	types   *pgtype.Map
	pid     uint32
	secret  uint32
	user    string
	// database is the one the client asked for: any name reaches the tenant's one lake.
	database string
	log      *slog.Logger
	params   map[string]string
	tx       byte // 'I' idle, 'T' in a transaction block, 'E' in a failed one
	// renamed maps the column names DuckDB gives the values rewrite put in place of function
	// calls back to those functions' names.
	renamed map[string]string
	started time.Time // of the statement run last

	stmts   map[string]*prepared
	portals map[string]*portal

	mu     sync.Mutex
	cancel context.CancelCauseFunc // of the statement running, nil between statements
}

// errCanceled is the cause of a statement cancelled by a CancelRequest.
var errCanceled = errors.New("canceling statement due to user request")

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	defer nc.Close()
	c := &pgConn{srv: s, netConn: nc, types: pgtype.NewMap(), tx: 'I',
		stmts: map[string]*prepared{}, portals: map[string]*portal{}}
	c.be = pgproto3.NewBackend(nc, nc)
	c.be.SetMaxBodyLen(64 << 20)
	defer func() {
		s.mu.Lock()
		if s.conns[c.pid] == c {
			delete(s.conns, c.pid)
		}
		s.mu.Unlock()
	}()
	if err := c.startup(); err != nil {
		if c.log != nil { // a StartupMessage came: this was a login
			s.metrics.logins.WithLabelValues("refused").Inc()
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errCancelHandled) {
			s.opts.Logger.Info("connection refused", "remote", nc.RemoteAddr().String(), "error", err.Error())
		}
		return
	}
	s.metrics.logins.WithLabelValues("accepted").Inc()
	s.metrics.connections.Inc()
	defer s.metrics.connections.Dec()
	c.log.Info("connected")
	err := c.loop(ctx)
	for name := range c.portals {
		c.dropPortal(name)
	}
	c.log.Info("disconnected", "reason", errText(err))
}

func errText(err error) string {
	if err == nil || errors.Is(err, io.EOF) {
		return "client closed"
	}
	return err.Error()
}

var errCancelHandled = errors.New("cancel request")

// startup runs the startup phase: TLS, the startup message, the password, and the parameters
// that tell the client what server it talks to.
func (c *pgConn) startup() error {
	c.netConn.SetDeadline(time.Now().Add(30 * time.Second)) // a client that never logs in
	defer c.netConn.SetDeadline(time.Time{})
	tlsDone := false
	for {
		msg, err := c.be.ReceiveStartupMessage()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if c.srv.opts.TLS == nil || tlsDone {
				if _, err := c.netConn.Write([]byte{'N'}); err != nil {
					return err
				}
				continue
			}
			if _, err := c.netConn.Write([]byte{'S'}); err != nil {
				return err
			}
			tc := tls.Server(c.netConn, c.srv.opts.TLS)
			if err := tc.Handshake(); err != nil {
				return fmt.Errorf("TLS handshake: %w", err)
			}
			c.netConn, tlsDone = tc, true
			c.be = pgproto3.NewBackend(tc, tc)
			c.be.SetMaxBodyLen(64 << 20)
		case *pgproto3.GSSEncRequest:
			if _, err := c.netConn.Write([]byte{'N'}); err != nil {
				return err
			}
		case *pgproto3.CancelRequest:
			c.srv.cancelRequest(m)
			return errCancelHandled
		case *pgproto3.StartupMessage:
			return c.login(m, tlsDone)
		default:
			return fmt.Errorf("unexpected startup message %T", msg)
		}
	}
}

func (c *pgConn) login(m *pgproto3.StartupMessage, overTLS bool) error {
	opts := c.srv.opts
	c.user, c.database = m.Parameters["user"], m.Parameters["database"]
	if c.database == "" {
		c.database = c.user
	}
	c.log = opts.Logger.With("remote", c.netConn.RemoteAddr().String(), "user", c.user, "application", m.Parameters["application_name"])
	if m.ProtocolVersion != pgproto3.ProtocolVersion30 {
		// 3.2 (PostgreSQL 18) brings longer cancel keys; this server speaks 3.0, and says so.
		c.be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0})
	}
	if opts.TLS != nil && !overTLS {
		return c.fatal("28000", "this server requires TLS: connect with sslmode=require (or verify-full)")
	}
	c.be.Send(&pgproto3.AuthenticationCleartextPassword{})
	if err := c.be.Flush(); err != nil {
		return err
	}
	if err := c.be.SetAuthType(pgproto3.AuthTypeCleartextPassword); err != nil {
		return err
	}
	msg, err := c.be.Receive()
	if err != nil {
		return err
	}
	pw, ok := msg.(*pgproto3.PasswordMessage)
	if !ok {
		return c.fatal("08P01", fmt.Sprintf("expected a password message, got %T", msg))
	}
	principal := "anonymous"
	if !opts.AllowAnonymous {
		name, err := tokenChecker{path: opts.TokenFile}.check(pw.Password, time.Now())
		if err != nil {
			c.log.Warn("login refused", "error", err.Error())
			if errors.Is(err, errBadPassword) {
				return c.fatal("28P01", fmt.Sprintf("password authentication failed for user %q: the password must be a token of this tenant with the query permission", c.user))
			}
			return c.fatal("XX000", "the server cannot read its token file; see its log")
		}
		principal = "token:" + name
	}
	c.log = c.log.With("principal", principal)

	c.srv.mu.Lock()
	if len(c.srv.conns) >= opts.MaxConnections {
		c.srv.mu.Unlock()
		return c.fatal("53300", fmt.Sprintf("sorry, too many clients already: this server takes %d connections (--max-connections)", opts.MaxConnections))
	}
	for {
		c.srv.nextPID++
		if _, taken := c.srv.conns[c.srv.nextPID]; !taken && c.srv.nextPID != 0 {
			break
		}
	}
	c.pid = c.srv.nextPID
	c.srv.conns[c.pid] = c
	c.srv.mu.Unlock()
	var key [4]byte
	rand.Read(key[:])
	c.secret = binary.BigEndian.Uint32(key[:])

	c.params = c.srv.defaultParams(c.user)
	for k, v := range m.Parameters {
		if k != "user" && k != "database" && k != "options" {
			c.params[strings.ToLower(k)] = v
		}
	}
	c.be.Send(&pgproto3.AuthenticationOk{})
	for _, name := range reportedParams {
		c.be.Send(&pgproto3.ParameterStatus{Name: name, Value: c.params[strings.ToLower(name)]})
	}
	c.be.Send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: key[:]})
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	return c.be.Flush()
}

// reportedParams are the parameters PostgreSQL reports at startup (and on change): drivers read
// them, pgx and psycopg2 the encoding and integer_datetimes, JDBC the server_version.
var reportedParams = []string{"server_version", "server_encoding", "client_encoding", "application_name",
	"DateStyle", "IntervalStyle", "TimeZone", "integer_datetimes", "standard_conforming_strings",
	"is_superuser", "session_authorization", "default_transaction_read_only", "in_hot_standby"}

// windowParam is the session setting that replaces the default window: SET lakehouse.window = '7d'.
const windowParam = "lakehouse.window"

func (s *Server) defaultParams(user string) map[string]string {
	return map[string]string{
		"server_version": serverVersion, "server_version_num": "160000", "server_encoding": "UTF8",
		"client_encoding": "UTF8", "application_name": "", "datestyle": "ISO, MDY", "intervalstyle": "postgres",
		"timezone": "UTC", "integer_datetimes": "on", "standard_conforming_strings": "on", "is_superuser": "off",
		"session_authorization": user, "default_transaction_read_only": "on", "transaction_read_only": "on",
		"in_hot_standby": "off", "search_path": `"$user", public`, "max_identifier_length": "63",
		"transaction_isolation": "read committed", "default_transaction_isolation": "read committed",
		"statement_timeout": strconv.FormatInt(s.opts.StatementTimeout.Milliseconds(), 10), "lc_messages": "C",
		"lc_monetary": "C", "lc_numeric": "C", "lc_time": "C", "extra_float_digits": "1", "bytea_output": "hex",
		windowParam: s.opts.DefaultWindow.String(), "lakehouse.max_rows": strconv.Itoa(s.opts.MaxRows),
	}
}

// fatal sends a FATAL error; the caller closes the connection.
func (c *pgConn) fatal(code, message string) error {
	c.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: message})
	c.be.Flush()
	return fmt.Errorf("%s: %s", code, message)
}

// cancelRequest cancels the statement a connection is running, if the key matches.
func (s *Server) cancelRequest(m *pgproto3.CancelRequest) {
	s.mu.Lock()
	c := s.conns[m.ProcessID]
	s.mu.Unlock()
	if c == nil || len(m.SecretKey) != 4 || binary.BigEndian.Uint32(m.SecretKey) != c.secret {
		return // as PostgreSQL: no answer either way
	}
	c.mu.Lock()
	if c.cancel != nil {
		c.cancel(errCanceled)
	}
	c.mu.Unlock()
	c.log.Info("statement cancelled by request")
}

// prepared is a statement of the extended protocol; portal is one bound to its parameters.
type prepared struct {
	toks      []sqlToken
	paramOIDs []uint32
}

type portal struct {
	toks    []sqlToken
	formats []int16
	// result is the statement's result when Describe ran it already.
	result *result
}

// dropPortal forgets a portal, and the result Describe ran for it if Execute never sent it.
func (c *pgConn) dropPortal(name string) {
	if p := c.portals[name]; p != nil && p.result != nil {
		p.result.close()
	}
	delete(c.portals, name)
}

// loop answers messages until the client leaves.
func (c *pgConn) loop(ctx context.Context) error {
	skipToSync := false // after an error in the extended protocol
	for {
		msg, err := c.be.Receive()
		if err != nil {
			return err
		}
		if skipToSync {
			if _, ok := msg.(*pgproto3.Sync); !ok {
				continue
			}
			skipToSync = false
		}
		var qerr error
		switch m := msg.(type) {
		case *pgproto3.Query:
			c.simpleQuery(ctx, m.String)
		case *pgproto3.Parse:
			qerr = c.parse(m)
		case *pgproto3.Bind:
			qerr = c.bind(m)
		case *pgproto3.Describe:
			qerr = c.describe(ctx, m)
		case *pgproto3.Execute:
			qerr = c.execute(ctx, m)
		case *pgproto3.Close:
			if m.ObjectType == 'S' {
				delete(c.stmts, m.Name)
			} else {
				c.dropPortal(m.Name)
			}
			c.be.Send(&pgproto3.CloseComplete{})
		case *pgproto3.Sync:
			c.dropPortal("")
			c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.tx})
		case *pgproto3.Flush:
		case *pgproto3.Terminate:
			return nil
		default:
			qerr = &pgError{code: "0A000", msg: fmt.Sprintf("the message %T is not supported by this server", msg)}
		}
		if qerr != nil {
			if errors.Is(qerr, errClientGone) {
				return qerr
			}
			c.sendError(qerr)
			skipToSync = true
		}
		if err := c.be.Flush(); err != nil {
			return err
		}
	}
}

var errClientGone = errors.New("the client went away")

func (c *pgConn) simpleQuery(ctx context.Context, text string) {
	stmts := splitStatements(text)
	if len(stmts) == 0 {
		c.be.Send(&pgproto3.EmptyQueryResponse{})
	}
	for _, toks := range stmts {
		r, err := c.run(ctx, toks)
		if err == nil {
			if r.columns != nil {
				c.be.Send(&pgproto3.RowDescription{Fields: r.fieldsIn(nil)})
			}
			err = c.send(r, nil)
		}
		if err != nil {
			if errors.Is(err, errClientGone) {
				return
			}
			c.sendError(err)
			break
		}
	}
	c.be.Send(&pgproto3.ReadyForQuery{TxStatus: c.tx})
}

func (c *pgConn) parse(m *pgproto3.Parse) error {
	stmts := splitStatements(m.Query)
	if len(stmts) > 1 {
		return &pgError{code: "42601", msg: "cannot insert multiple commands into a prepared statement"}
	}
	var toks []sqlToken
	if len(stmts) == 1 {
		toks = stmts[0]
	}
	n := max(countParameters(toks), len(m.ParameterOIDs))
	oids := make([]uint32, n)
	copy(oids, m.ParameterOIDs)
	c.stmts[m.Name] = &prepared{toks: toks, paramOIDs: oids}
	c.be.Send(&pgproto3.ParseComplete{})
	return nil
}

func (c *pgConn) bind(m *pgproto3.Bind) error {
	ps := c.stmts[m.PreparedStatement]
	if ps == nil {
		return &pgError{code: "26000", msg: fmt.Sprintf("prepared statement %q does not exist", m.PreparedStatement)}
	}
	if len(m.Parameters) != len(ps.paramOIDs) {
		return &pgError{code: "08P01", msg: fmt.Sprintf("bind message supplies %d parameters, but prepared statement requires %d", len(m.Parameters), len(ps.paramOIDs))}
	}
	values := make([]*string, len(m.Parameters))
	for i, raw := range m.Parameters {
		format := int16(0)
		switch {
		case len(m.ParameterFormatCodes) == 1:
			format = m.ParameterFormatCodes[0]
		case len(m.ParameterFormatCodes) > i:
			format = m.ParameterFormatCodes[i]
		}
		v, err := paramText(c.types, ps.paramOIDs[i], format, raw)
		if err != nil {
			return &pgError{code: "22P03", msg: fmt.Sprintf("parameter $%d: %v", i+1, err)}
		}
		values[i] = v
	}
	toks, err := bindParameters(ps.toks, values)
	if err != nil {
		return &pgError{code: "08P01", msg: err.Error()}
	}
	c.dropPortal(m.DestinationPortal)
	c.portals[m.DestinationPortal] = &portal{toks: toks, formats: m.ResultFormatCodes}
	c.be.Send(&pgproto3.BindComplete{})
	return nil
}

func (c *pgConn) describe(ctx context.Context, m *pgproto3.Describe) error {
	if m.ObjectType == 'S' {
		ps := c.stmts[m.Name]
		if ps == nil {
			return &pgError{code: "26000", msg: fmt.Sprintf("prepared statement %q does not exist", m.Name)}
		}
		c.be.Send(&pgproto3.ParameterDescription{ParameterOIDs: ps.paramOIDs})
		fields, err := c.shapeOf(ctx, ps)
		if err != nil {
			return err
		}
		if fields == nil {
			c.be.Send(&pgproto3.NoData{})
		} else {
			c.be.Send(&pgproto3.RowDescription{Fields: fields})
		}
		return nil
	}
	p := c.portals[m.Name]
	if p == nil {
		return &pgError{code: "34000", msg: fmt.Sprintf("portal %q does not exist", m.Name)}
	}
	// A portal's columns are its result's: it runs now, and Execute sends what it found.
	if p.result == nil {
		r, err := c.run(ctx, p.toks)
		if err != nil {
			return err
		}
		p.result = r
	}
	if p.result.columns == nil {
		c.be.Send(&pgproto3.NoData{})
	} else {
		c.be.Send(&pgproto3.RowDescription{Fields: p.result.fieldsIn(p.formats)})
	}
	return nil
}

func (c *pgConn) execute(ctx context.Context, m *pgproto3.Execute) error {
	p := c.portals[m.Portal]
	if p == nil {
		return &pgError{code: "34000", msg: fmt.Sprintf("portal %q does not exist", m.Portal)}
	}
	r := p.result
	p.result = nil
	if r == nil {
		var err error
		if r, err = c.run(ctx, p.toks); err != nil {
			return err
		}
	}
	// The whole result is sent: max_rows (a cursor's fetch size) is not kept across messages.
	return c.send(r, p.formats)
}

// sendError sends an error that a statement met; the connection goes on.
func (c *pgConn) sendError(err error) {
	pe := asPgError(err)
	if c.tx == 'T' {
		c.tx = 'E'
	}
	c.log.Info("statement failed", "sqlstate", pe.code, "error", pe.msg)
	c.srv.metrics.statements.WithLabelValues(pe.code).Inc()
	c.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: pe.code, Message: pe.msg, Hint: pe.hint})
}

// queryWindow is the window a lake statement reads; it fails when wider than MaxWindow.
func (c *pgConn) queryWindow(toks []sqlToken, now time.Time) (parts.Window, error) {
	def := c.srv.opts.DefaultWindow
	if v := c.params[windowParam]; v != "" {
		if d, ok := parseInterval(strings.ReplaceAll(v, "d", " day")); ok && d > 0 {
			def = d
		} else if d, err := time.ParseDuration(v); err == nil && d > 0 {
			def = d
		}
	}
	w := statementBounds(toks, now).window(now, def)
	if w.Until.Sub(w.Since) > c.srv.opts.MaxWindow {
		return w, &pgError{code: "54000", msg: fmt.Sprintf("the statement's time window %s .. %s is longer than this server's limit of %s",
			w.Since.Format(time.RFC3339), w.Until.Format(time.RFC3339), c.srv.opts.MaxWindow),
			hint: "narrow the predicate on time (or start_time), or ask for a larger --max-window"}
	}
	return w, nil
}
