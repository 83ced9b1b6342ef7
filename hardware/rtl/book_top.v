// book_top: best bid / best ask (price, aggregate size) of every instrument
// slot, kept as LEVELS sorted levels per side (book_side) so that removing the
// best level by an execution, cancel, delete or replace recovers the next best
// in the same cycle.
//
// Input: the book ops of order_table (one a cycle). A message is one op
// (first = last = 1) or, for a replace, a sub (first) then an add or a no-op
// (last). For every message it emits one evaluation (ev_*) the cycle after its
// last op, with the top of the touched side as it was before the message
// (ev_snap_*); ev_changed compares it with the top now. H / S events pass
// through in order.
//
// Level bound: see book_side; evict / untracked / miss are totals over all
// sides (32-bit counters, index 0, 1, 2 of `counters`).
module book_top #(
    parameter integer NUM_INSTR = 4,
    parameter integer SLOT_W    = 2,
    parameter integer LEVELS    = 16,
    parameter integer LQ_W      = 40
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire                   op_valid,
    input  wire [1:0]             op_kind,
    input  wire [SLOT_W-1:0]      op_slot,
    input  wire                   op_buy,
    input  wire [31:0]            op_price,
    input  wire [31:0]            op_qty,
    input  wire                   op_first,
    input  wire                   op_last,
    input  wire [47:0]            op_ts,
    input  wire [7:0]             op_type,
    input  wire [7:0]             op_code,
    output reg                    ev_valid,
    output reg                    ev_evt,      // an H / S event, not a book message
    output reg  [SLOT_W-1:0]      ev_slot,
    output reg                    ev_buy,      // the side the message touched
    output reg  [47:0]            ev_ts,
    output reg  [7:0]             ev_type,
    output reg  [7:0]             ev_code,
    output wire                   ev_changed,  // that side's top differs from before the message
    output wire [NUM_INSTR-1:0]   bid_v,
    output wire [NUM_INSTR*32-1:0] bid_px,
    output wire [NUM_INSTR*LQ_W-1:0] bid_qty,
    output wire [NUM_INSTR-1:0]   ask_v,
    output wire [NUM_INSTR*32-1:0] ask_px,
    output wire [NUM_INSTR*LQ_W-1:0] ask_qty,
    output wire [3*32-1:0]        counters
);
    localparam [1:0] OP_NOP = 2'd0, OP_ADD = 2'd1, OP_SUB = 2'd2, OP_EVT = 2'd3;

    wire [2*NUM_INSTR-1:0] ev_evict, ev_untr, ev_miss;
    genvar gs;
    generate
        for (gs = 0; gs < NUM_INSTR; gs = gs + 1) begin : g_slot
            wire sel = op_valid && (op_kind == OP_ADD || op_kind == OP_SUB) && op_slot == gs;
            book_side #(.LEVELS(LEVELS), .IS_BID(1), .LQ_W(LQ_W)) u_bid (
                .clk(clk), .rst(rst),
                .op_en(sel && op_buy), .op_add(op_kind == OP_ADD), .op_px(op_price), .op_qty(op_qty),
                .top_v(bid_v[gs]), .top_px(bid_px[gs*32 +: 32]), .top_qty(bid_qty[gs*LQ_W +: LQ_W]),
                .evict(ev_evict[2*gs]), .untracked(ev_untr[2*gs]), .miss(ev_miss[2*gs])
            );
            book_side #(.LEVELS(LEVELS), .IS_BID(0), .LQ_W(LQ_W)) u_ask (
                .clk(clk), .rst(rst),
                .op_en(sel && !op_buy), .op_add(op_kind == OP_ADD), .op_px(op_price), .op_qty(op_qty),
                .top_v(ask_v[gs]), .top_px(ask_px[gs*32 +: 32]), .top_qty(ask_qty[gs*LQ_W +: LQ_W]),
                .evict(ev_evict[2*gs+1]), .untracked(ev_untr[2*gs+1]), .miss(ev_miss[2*gs+1])
            );
        end
    endgenerate

    // top of (op_slot, op_buy) before this op
    wire            cur_v   = op_buy ? bid_v[op_slot] : ask_v[op_slot];
    wire [31:0]     cur_px  = op_buy ? bid_px[op_slot*32 +: 32] : ask_px[op_slot*32 +: 32];
    wire [LQ_W-1:0] cur_qty = op_buy ? bid_qty[op_slot*LQ_W +: LQ_W] : ask_qty[op_slot*LQ_W +: LQ_W];

    reg             snap_v;     // top at the first op of the current message
    reg [31:0]      snap_px;
    reg [LQ_W-1:0]  snap_qty;
    reg             ev_snap_v;
    reg [31:0]      ev_snap_px;
    reg [LQ_W-1:0]  ev_snap_qty;

    wire            now_v   = ev_buy ? bid_v[ev_slot] : ask_v[ev_slot];
    wire [31:0]     now_px  = ev_buy ? bid_px[ev_slot*32 +: 32] : ask_px[ev_slot*32 +: 32];
    wire [LQ_W-1:0] now_qty = ev_buy ? bid_qty[ev_slot*LQ_W +: LQ_W] : ask_qty[ev_slot*LQ_W +: LQ_W];
    assign ev_changed = ev_valid && !ev_evt &&
                        (now_v != ev_snap_v || (now_v && (now_px != ev_snap_px || now_qty != ev_snap_qty)));

    reg [31:0] c_evict, c_untr, c_miss;
    assign counters = {c_miss, c_untr, c_evict};

    always @(posedge clk) begin
        if (rst) begin
            ev_valid <= 1'b0;
            ev_evt <= 1'b0;
            c_evict <= 32'd0;
            c_untr <= 32'd0;
            c_miss <= 32'd0;
        end else begin
            if (|ev_evict) c_evict <= c_evict + 32'd1;
            if (|ev_untr) c_untr <= c_untr + 32'd1;
            if (|ev_miss) c_miss <= c_miss + 32'd1;
            if (op_valid && op_first) begin
                snap_v <= cur_v;
                snap_px <= cur_px;
                snap_qty <= cur_qty;
            end
            ev_valid <= op_valid && op_last;
            if (op_valid && op_last) begin
                ev_evt <= (op_kind == OP_EVT);
                ev_slot <= op_slot;
                ev_buy <= op_buy;
                ev_ts <= op_ts;
                ev_type <= op_type;
                ev_code <= op_code;
                ev_snap_v <= op_first ? cur_v : snap_v;
                ev_snap_px <= op_first ? cur_px : snap_px;
                ev_snap_qty <= op_first ? cur_qty : snap_qty;
            end
        end
    end

    wire unused_ok = &{1'b0, OP_NOP};
endmodule
