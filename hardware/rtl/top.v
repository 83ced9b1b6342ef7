// top: the tick-to-trade pipeline
//
//   s_axis (ITCH, length-prefixed) -> itch_parser -> order_table -> book_top
//   -> trigger -> [candidate FIFO] -> risk_gate -> [order FIFO] -> ouch_encoder
//   -> m_axis (OUCH 5.0)
//
// Config port: cfg_we / cfg_addr / cfg_wdata, one 64-bit register write a
// cycle; the address map is in each module's header (0x1xx order_table,
// 0x2xx trigger, 0x3xx risk_gate, 0x4xx ouch_encoder) plus 0x001 kill
// (software kill switch, write anything) and 0x002 clear kill (RiskEngine.reset:
// trading resumes).
// Kill switch input: kill_in (asynchronous, level) goes through a 2-flop
// synchronizer; the kill latches until cleared through the config port.
// While killed the risk gate rejects, the order FIFO is flushed and the
// encoder starts no Enter Order (see hardware/README.md for the cycle bound).
// Statistics: stat_data = counter stat_addr (combinational read, see STAT_*).
module top #(
    parameter integer DATA_BYTES   = 8,
    parameter integer NUM_INSTR    = 4,
    parameter integer LEVELS       = 32,
    parameter integer OT_ADDR_BITS = 10,
    parameter integer OT_WAYS      = 4,
    parameter integer CAND_DEPTH   = 8,
    parameter integer ORD_DEPTH    = 4,
    parameter integer OPEN_SLOTS   = 8
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire [DATA_BYTES*8-1:0] s_axis_tdata,
    input  wire [DATA_BYTES-1:0]   s_axis_tkeep,
    input  wire                    s_axis_tvalid,
    output wire                    s_axis_tready,
    input  wire                    s_axis_tlast,
    output wire [63:0]             m_axis_tdata,
    output wire [7:0]              m_axis_tkeep,
    output wire                    m_axis_tvalid,
    input  wire                    m_axis_tready,
    output wire                    m_axis_tlast,
    input  wire                    cfg_we,
    input  wire [11:0]             cfg_addr,
    input  wire [63:0]             cfg_wdata,
    input  wire                    kill_in,
    output wire                    killed,
    output wire                    ready,
    input  wire [7:0]              stat_addr,
    output reg  [63:0]             stat_data
);
    localparam integer SLOT_W = (NUM_INSTR > 1) ? $clog2(NUM_INSTR) : 1;
    localparam integer LQ_W = 40;
    localparam integer CW = SLOT_W + 1 + 32 + 32 + 48 + 1 + 32;   // candidate
    localparam integer OW = SLOT_W + 1 + 32 + 32;                 // order
    localparam integer QCW = $clog2(CAND_DEPTH + 1);
    localparam integer OCW = $clog2(ORD_DEPTH + 1);
    localparam integer HOLD_I = CAND_DEPTH - 4;
    localparam [QCW-1:0] HOLD_AT = HOLD_I[QCW-1:0];
    localparam [OCW-1:0] ORD_FULL = ORD_DEPTH[OCW-1:0];

    // -- kill switch
    reg kill_s1, kill_s2, kill_r;
    wire sw_kill  = cfg_we && cfg_addr == 12'h001;
    wire clr_kill = cfg_we && cfg_addr == 12'h002;
    assign killed = kill_r || kill_s2;
    always @(posedge clk) begin
        if (rst) begin
            kill_s1 <= 1'b0;
            kill_s2 <= 1'b0;
            kill_r <= 1'b0;
        end else begin
            kill_s1 <= kill_in;
            kill_s2 <= kill_s1;
            kill_r <= (kill_r || kill_s2 || sw_kill) && !clr_kill;
        end
    end

    // -- parser
    wire        p_valid, p_ready, p_buy;
    wire [7:0]  p_type, p_code;
    wire [15:0] p_locate;
    wire [47:0] p_ts;
    wire [63:0] p_ref, p_ref2;
    wire [31:0] p_shares, p_price;
    wire [11*32-1:0] c_parser;
    itch_parser #(.DATA_BYTES(DATA_BYTES)) u_parser (
        .clk(clk), .rst(rst),
        .s_tdata(s_axis_tdata), .s_tkeep(s_axis_tkeep), .s_tvalid(s_axis_tvalid),
        .s_tready(s_axis_tready), .s_tlast(s_axis_tlast),
        .m_valid(p_valid), .m_ready(p_ready), .m_type(p_type), .m_locate(p_locate), .m_ts(p_ts),
        .m_ref(p_ref), .m_ref2(p_ref2), .m_buy(p_buy), .m_shares(p_shares), .m_price(p_price),
        .m_code(p_code), .counters(c_parser)
    );

    // -- order table
    wire                 hold;
    wire                 t_valid, t_buy, t_first, t_last, t_busy;
    wire [1:0]           t_kind;
    wire [SLOT_W-1:0]    t_slot;
    wire [31:0]          t_price, t_qty;
    wire [47:0]          t_ts;
    wire [7:0]           t_type, t_code;
    wire [5*32-1:0]      c_table;
    order_table #(.NUM_INSTR(NUM_INSTR), .SLOT_W(SLOT_W), .ADDR_BITS(OT_ADDR_BITS), .WAYS(OT_WAYS)) u_table (
        .clk(clk), .rst(rst), .cfg_we(cfg_we), .cfg_addr(cfg_addr), .cfg_wdata(cfg_wdata),
        .in_valid(p_valid), .in_ready(p_ready), .in_type(p_type), .in_locate(p_locate), .in_ts(p_ts),
        .in_ref(p_ref), .in_ref2(p_ref2), .in_buy(p_buy), .in_shares(p_shares), .in_price(p_price),
        .in_code(p_code), .hold(hold),
        .op_valid(t_valid), .op_kind(t_kind), .op_slot(t_slot), .op_buy(t_buy), .op_price(t_price),
        .op_qty(t_qty), .op_first(t_first), .op_last(t_last), .op_ts(t_ts), .op_type(t_type),
        .op_code(t_code), .busy(t_busy), .counters(c_table)
    );
    assign ready = !t_busy;

    // -- book
    wire                      e_valid, e_evt, e_buy, e_changed;
    wire [SLOT_W-1:0]         e_slot;
    wire [47:0]               e_ts;
    wire [7:0]                e_type, e_code;
    wire [NUM_INSTR-1:0]      bid_v, ask_v;
    wire [NUM_INSTR*32-1:0]   bid_px, ask_px;
    wire [NUM_INSTR*LQ_W-1:0] bid_qty, ask_qty;
    wire [3*32-1:0]           c_book;
    book_top #(.NUM_INSTR(NUM_INSTR), .SLOT_W(SLOT_W), .LEVELS(LEVELS), .LQ_W(LQ_W)) u_book (
        .clk(clk), .rst(rst),
        .op_valid(t_valid), .op_kind(t_kind), .op_slot(t_slot), .op_buy(t_buy), .op_price(t_price),
        .op_qty(t_qty), .op_first(t_first), .op_last(t_last), .op_ts(t_ts), .op_type(t_type), .op_code(t_code),
        .ev_valid(e_valid), .ev_evt(e_evt), .ev_slot(e_slot), .ev_buy(e_buy), .ev_ts(e_ts), .ev_type(e_type),
        .ev_code(e_code), .ev_changed(e_changed),
        .bid_v(bid_v), .bid_px(bid_px), .bid_qty(bid_qty), .ask_v(ask_v), .ask_px(ask_px), .ask_qty(ask_qty),
        .counters(c_book)
    );

    // -- trigger
    wire                 k_valid, k_buy, k_ref_v, market_open;
    wire [SLOT_W-1:0]    k_slot;
    wire [31:0]          k_price, k_qty, k_ref_px;
    wire [47:0]          k_ts;
    wire [NUM_INSTR-1:0] trading;
    trigger #(.NUM_INSTR(NUM_INSTR), .SLOT_W(SLOT_W), .LQ_W(LQ_W)) u_trigger (
        .clk(clk), .rst(rst), .cfg_we(cfg_we), .cfg_addr(cfg_addr), .cfg_wdata(cfg_wdata),
        .ev_valid(e_valid), .ev_evt(e_evt), .ev_slot(e_slot), .ev_buy(e_buy), .ev_changed(e_changed),
        .ev_ts(e_ts), .ev_type(e_type), .ev_code(e_code),
        .bid_v(bid_v), .bid_px(bid_px), .bid_qty(bid_qty), .ask_v(ask_v), .ask_px(ask_px), .ask_qty(ask_qty),
        .cand_valid(k_valid), .cand_slot(k_slot), .cand_buy(k_buy), .cand_price(k_price), .cand_qty(k_qty),
        .cand_ts(k_ts), .cand_ref_v(k_ref_v), .cand_ref_px(k_ref_px),
        .trading(trading), .market_open(market_open)
    );

    // -- candidate FIFO, bypassed when empty
    wire [CW-1:0] k_data = {k_slot, k_buy, k_price, k_qty, k_ts, k_ref_v, k_ref_px};
    wire [CW-1:0] q_dout;
    wire          q_empty, q_ovf;
    wire [$clog2(CAND_DEPTH+1)-1:0] q_count;
    wire          g_pop;
    wire          g_valid = !q_empty || k_valid;
    wire [CW-1:0] g_data  = q_empty ? k_data : q_dout;
    sync_fifo #(.WIDTH(CW), .DEPTH(CAND_DEPTH)) u_candq (
        .clk(clk), .rst(rst), .clear(1'b0),
        .push(k_valid && !(q_empty && g_pop)), .din(k_data),
        .pop(g_pop && !q_empty), .dout(q_dout), .empty(q_empty), .count(q_count), .overflow(q_ovf)
    );
    // messages in flight after the table's input: s1, op, ev (+ the one accepted)
    assign hold = (q_count >= HOLD_AT);

    // -- risk gate
    wire [SLOT_W-1:0]         g_slot;
    wire                      g_buy, g_ref_v;
    wire [31:0]               g_price, g_qty, g_ref_px;
    wire [47:0]               g_ts;
    assign {g_slot, g_buy, g_price, g_qty, g_ts, g_ref_v, g_ref_px} = g_data;
    wire                      r_valid, r_buy;
    wire [SLOT_W-1:0]         r_slot;
    wire [31:0]               r_price, r_qty;
    wire [NUM_INSTR*48-1:0]   pos_bus;
    wire [8*32-1:0]           c_risk;
    wire [$clog2(ORD_DEPTH+1)-1:0] o_count;
    risk_gate #(.NUM_INSTR(NUM_INSTR), .SLOT_W(SLOT_W)) u_risk (
        .clk(clk), .rst(rst), .cfg_we(cfg_we), .cfg_addr(cfg_addr), .cfg_wdata(cfg_wdata),
        .killed(killed),
        .c_valid(g_valid), .c_pop(g_pop), .c_slot(g_slot), .c_buy(g_buy), .c_price(g_price), .c_qty(g_qty),
        .c_ts(g_ts), .c_ref_v(g_ref_v), .c_ref_px(g_ref_px),
        .out_room(o_count < ORD_FULL),
        .o_valid(r_valid), .o_slot(r_slot), .o_buy(r_buy), .o_price(r_price), .o_qty(r_qty),
        .pos_bus(pos_bus), .counters(c_risk)
    );

    // -- order FIFO (flushed while killed), bypassed when empty
    wire [OW-1:0]     r_data = {r_slot, r_buy, r_price, r_qty};
    wire [OW-1:0]     o_dout;
    wire              o_empty, o_pop, o_ovf;
    wire [SLOT_W-1:0] o_slot;
    wire              o_buy;
    wire [31:0]       o_price, o_qty;
    sync_fifo #(.WIDTH(OW), .DEPTH(ORD_DEPTH)) u_ordq (
        .clk(clk), .rst(rst), .clear(killed),
        .push(r_valid && !(o_empty && o_pop)), .din(r_data),
        .pop(o_pop && !o_empty), .dout(o_dout), .empty(o_empty), .count(o_count), .overflow(o_ovf)
    );
    assign {o_slot, o_buy, o_price, o_qty} = o_empty ? r_data : o_dout;

    // -- OUCH encoder
    wire [3*32-1:0] c_enc;
    ouch_encoder #(.NUM_INSTR(NUM_INSTR), .SLOT_W(SLOT_W), .OPEN_SLOTS(OPEN_SLOTS)) u_enc (
        .clk(clk), .rst(rst), .cfg_we(cfg_we), .cfg_addr(cfg_addr), .cfg_wdata(cfg_wdata),
        .killed(killed),
        .o_valid(!o_empty || r_valid), .o_pop(o_pop), .o_slot(o_slot), .o_buy(o_buy), .o_price(o_price), .o_qty(o_qty),
        .m_tdata(m_axis_tdata), .m_tkeep(m_axis_tkeep), .m_tvalid(m_axis_tvalid), .m_tready(m_axis_tready),
        .m_tlast(m_axis_tlast), .counters(c_enc)
    );

    // -- statistics
    reg [31:0] c_cand, c_qovf, c_oovf;
    always @(posedge clk) begin
        if (rst) begin
            c_cand <= 32'd0;
            c_qovf <= 32'd0;
            c_oovf <= 32'd0;
        end else begin
            if (k_valid) c_cand <= c_cand + 32'd1;
            if (q_ovf) c_qovf <= c_qovf + 32'd1;
            if (o_ovf) c_oovf <= c_oovf + 32'd1;
        end
    end

    // STAT_*: 0..10 parser, 16..20 order table, 24..26 book, 32..39 risk,
    // 40..42 encoder, 48 candidates, 49 candidate FIFO overflow, 50 order FIFO
    // overflow, 56 status {market_open, trading, killed, ready}, 64+s position of slot s.
    integer s;
    always @* begin
        stat_data = 64'd0;
        if (stat_addr < 8'd11)
            stat_data = {32'd0, c_parser[stat_addr*32 +: 32]};
        else if (stat_addr >= 8'd16 && stat_addr < 8'd21)
            stat_data = {32'd0, c_table[(stat_addr-8'd16)*32 +: 32]};
        else if (stat_addr >= 8'd24 && stat_addr < 8'd27)
            stat_data = {32'd0, c_book[(stat_addr-8'd24)*32 +: 32]};
        else if (stat_addr >= 8'd32 && stat_addr < 8'd40)
            stat_data = {32'd0, c_risk[(stat_addr-8'd32)*32 +: 32]};
        else if (stat_addr >= 8'd40 && stat_addr < 8'd43)
            stat_data = {32'd0, c_enc[(stat_addr-8'd40)*32 +: 32]};
        else if (stat_addr == 8'd48)
            stat_data = {32'd0, c_cand};
        else if (stat_addr == 8'd49)
            stat_data = {32'd0, c_qovf};
        else if (stat_addr == 8'd50)
            stat_data = {32'd0, c_oovf};
        else if (stat_addr == 8'd56)
            stat_data = {{(61-NUM_INSTR){1'b0}}, market_open, trading, killed, ready};
        else
            for (s = 0; s < NUM_INSTR; s = s + 1)
                if ({24'd0, stat_addr} == 64 + s)
                    stat_data = {{16{pos_bus[s*48+47]}}, pos_bus[s*48 +: 48]};
    end
endmodule
