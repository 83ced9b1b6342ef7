// order_table: order reference number -> (instrument slot, side, price, shares)
// for the configured instruments, and the book operations the messages imply.
//
// Storage: a set-associative hash table of 2**ADDR_BITS buckets x WAYS ways in
// synchronous-read RAMs (one per way). The bucket is the XOR-fold of the
// 64-bit reference to ADDR_BITS bits; the key is (slot, reference). A write in
// the cycle of a read of the same bucket is forwarded.
//
// Overflow policy: an add whose bucket has no free way is dropped (the order
// is never stored and never enters the book) and counted in `overflow`; later
// messages about it count as unknown references. Capacity is therefore
// between WAYS (adversarial) and WAYS * 2**ADDR_BITS live orders; hardware/model.py
// predicts the drops exactly (same hash) so the reference model stays exact.
//
// Message semantics (those of the project's ITCH reader + MatchingEngine):
//   A/F  add (shares 0: ignored; a live (slot, ref): duplicate, ignored)
//   E/C  execute min(shares, remaining); the order leaves at 0
//   X    cancel: shares 0 or >= remaining removes the whole order
//   D    delete
//   U    delete the original + add the new reference (same slot and side);
//        an unknown original drops the whole replace
//   H    per-instrument trading state, S system event: passed on in order
// Messages for instruments not configured (locate not enabled) are dropped
// and counted in `filtered`.
//
// Timing: a message is accepted when in_valid && in_ready; its RAM read is
// issued in that cycle, the table is updated and the book op registered one
// cycle later. A replace takes two cycles (in_ready is low in the second).
// After reset the table is cleared in 2**ADDR_BITS cycles (in_ready low,
// `busy` high).
//
// Counters (32 bit, index i at [32*i +: 32]): 0 stored, 1 duplicate,
// 2 overflow, 3 unknown reference, 4 filtered.
module order_table #(
    parameter integer NUM_INSTR = 4,
    parameter integer SLOT_W    = 2,
    parameter integer ADDR_BITS = 10,
    parameter integer WAYS      = 4
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              cfg_we,
    input  wire [11:0]       cfg_addr,
    input  wire [63:0]       cfg_wdata,
    input  wire              in_valid,
    output wire              in_ready,
    input  wire [7:0]        in_type,
    input  wire [15:0]       in_locate,
    input  wire [47:0]       in_ts,
    input  wire [63:0]       in_ref,
    input  wire [63:0]       in_ref2,
    input  wire              in_buy,
    input  wire [31:0]       in_shares,
    input  wire [31:0]       in_price,
    input  wire [7:0]        in_code,
    input  wire              hold,
    output reg               op_valid,
    output reg  [1:0]        op_kind,
    output reg  [SLOT_W-1:0] op_slot,
    output reg               op_buy,
    output reg  [31:0]       op_price,
    output reg  [31:0]       op_qty,
    output reg               op_first,
    output reg               op_last,
    output reg  [47:0]       op_ts,
    output reg  [7:0]        op_type,
    output reg  [7:0]        op_code,
    output wire              busy,
    output wire [5*32-1:0]   counters
);
    localparam [1:0] OP_NOP = 2'd0, OP_ADD = 2'd1, OP_SUB = 2'd2, OP_EVT = 2'd3;
    localparam [2:0] K_ADD = 3'd0, K_EXEC = 3'd1, K_CXL = 3'd2, K_DEL = 3'd3,
                     K_U1 = 3'd4, K_U2 = 3'd5, K_EVT = 3'd6;
    localparam integer BUCKETS = 1 << ADDR_BITS;
    // entry: {valid, ref[63:0], slot, buy, price[31:0], shares[31:0]}
    localparam integer EW = 1 + 64 + SLOT_W + 1 + 32 + 32;
    localparam integer WW = (WAYS > 1) ? $clog2(WAYS) : 1;
    // cfg_wdata[63:17] are not used by this module's registers

    // -- configuration: locate code and enable of each instrument slot (0x1ss)
    reg [15:0]          cfg_loc [0:NUM_INSTR-1];
    reg [NUM_INSTR-1:0] cfg_en;
    integer i;
    always @(posedge clk) begin
        if (rst) begin
            cfg_en <= {NUM_INSTR{1'b0}};
            for (i = 0; i < NUM_INSTR; i = i + 1)
                cfg_loc[i] <= 16'd0;
        end else if (cfg_we && cfg_addr[11:8] == 4'h1) begin
            for (i = 0; i < NUM_INSTR; i = i + 1)
                if ({24'd0, cfg_addr[7:0]} == i) begin
                    cfg_loc[i] <= cfg_wdata[15:0];
                    cfg_en[i] <= cfg_wdata[16];
                end
        end
    end

    function [ADDR_BITS-1:0] hash;
        input [63:0] r;
        integer b;
        begin
            hash = {ADDR_BITS{1'b0}};
            for (b = 0; b < 64; b = b + 1)
                hash[b % ADDR_BITS] = hash[b % ADDR_BITS] ^ r[b];
        end
    endfunction

    // -- stage 0: accept, match the instrument, issue the RAM read
    reg                 clr_busy;
    reg [ADDR_BITS-1:0] clr_addr;
    reg                 u_pend;       // second half of a replace goes next cycle
    reg [63:0]          u_ref2;
    reg [31:0]          u_shares;
    reg [31:0]          u_price;

    reg                 loc_hit;
    reg [SLOT_W-1:0]    loc_slot;
    integer j;
    always @* begin
        loc_hit = 1'b0;
        loc_slot = {SLOT_W{1'b0}};
        for (j = NUM_INSTR - 1; j >= 0; j = j - 1)
            if (cfg_en[j] && cfg_loc[j] == in_locate) begin
                loc_hit = 1'b1;
                loc_slot = j[SLOT_W-1:0];
            end
    end

    wire is_book = (in_type == "A") || (in_type == "F") || (in_type == "E") || (in_type == "C") ||
                   (in_type == "X") || (in_type == "D") || (in_type == "U");
    wire is_h    = (in_type == "H");
    wire is_s    = (in_type == "S");
    assign in_ready = !clr_busy && !u_pend && !hold;
    assign busy = clr_busy;
    wire acc  = in_valid && in_ready;
    wire pass = acc && (((is_book || is_h) && loc_hit) || is_s);
    wire filt = acc && !(((is_book || is_h) && loc_hit) || is_s);

    reg [2:0] kind0;
    always @* begin
        if (in_type == "A" || in_type == "F")       kind0 = K_ADD;
        else if (in_type == "E" || in_type == "C")  kind0 = K_EXEC;
        else if (in_type == "X")                    kind0 = K_CXL;
        else if (in_type == "D")                    kind0 = K_DEL;
        else if (in_type == "U")                    kind0 = K_U1;
        else                                        kind0 = K_EVT;
    end

    wire [ADDR_BITS-1:0] rd_addr = u_pend ? hash(u_ref2) : hash(in_ref);

    // -- stage 1 registers
    reg                 s1_v;
    reg [2:0]           s1_kind;
    reg [SLOT_W-1:0]    s1_slot;
    reg                 s1_buy;
    reg [63:0]          s1_ref;
    reg [31:0]          s1_shares;
    reg [31:0]          s1_price;
    reg [47:0]          s1_ts;
    reg [7:0]           s1_type;
    reg [7:0]           s1_code;
    reg [ADDR_BITS-1:0] s1_bucket;
    reg                 u1_hit;       // result of the first half of a replace
    reg [SLOT_W-1:0]    u1_slot;
    reg                 u1_buy;

    // -- RAMs, one per way, and the write port
    reg                 we;
    reg [WW-1:0]        wway;
    reg [ADDR_BITS-1:0] waddr;
    reg [EW-1:0]        wdata;
    reg                 wq_v;         // the write of the previous edge, for forwarding
    reg [WW-1:0]        wq_way;
    reg [ADDR_BITS-1:0] wq_addr;
    reg [EW-1:0]        wq_data;
    wire [WAYS*EW-1:0]  rd_bus;

    genvar gw;
    generate
        for (gw = 0; gw < WAYS; gw = gw + 1) begin : g_way
            reg [EW-1:0] mem [0:BUCKETS-1];
            reg [EW-1:0] rd;
            always @(posedge clk) begin
                if (clr_busy)
                    mem[clr_addr] <= {EW{1'b0}};
                else if (we && wway == gw)
                    mem[waddr] <= wdata;
                rd <= mem[rd_addr];
            end
            assign rd_bus[gw*EW +: EW] = rd;
        end
    endgenerate

    // -- stage 1: compare, decide, write back, emit the book op
    reg [EW-1:0]  way_d [0:WAYS-1];
    reg           hit;
    reg [WW-1:0]  hit_w;
    reg           has_free;
    reg [WW-1:0]  free_w;
    integer w;
    always @* begin
        hit = 1'b0;
        hit_w = {WW{1'b0}};
        has_free = 1'b0;
        free_w = {WW{1'b0}};
        for (w = WAYS - 1; w >= 0; w = w - 1) begin
            if (wq_v && wq_addr == s1_bucket && {{(32-WW){1'b0}}, wq_way} == w)
                way_d[w] = wq_data;
            else
                way_d[w] = rd_bus[w*EW +: EW];
            if (way_d[w][EW-1] && way_d[w][EW-2 -: 64] == s1_ref && way_d[w][65 +: SLOT_W] == s1_slot) begin
                hit = 1'b1;
                hit_w = w[WW-1:0];
            end
            if (!way_d[w][EW-1]) begin
                has_free = 1'b1;
                free_w = w[WW-1:0];
            end
        end
    end

    wire [EW-1:0] ent       = way_d[hit_w];
    wire          e_buy     = ent[64];
    wire [31:0]   e_price   = ent[63:32];
    wire [31:0]   e_shares  = ent[31:0];
    wire [31:0]   exec_q    = (s1_shares < e_shares) ? s1_shares : e_shares;
    wire          cxl_all   = (s1_shares == 32'd0) || (s1_shares >= e_shares);
    wire          add_buy   = (s1_kind == K_U2) ? u1_buy : s1_buy;
    wire [EW-1:0] new_ent   = {1'b1, s1_ref, s1_slot, add_buy, s1_price, s1_shares};

    reg [31:0] c_stored, c_dup, c_ovf, c_unk, c_filt;
    assign counters = {c_filt, c_unk, c_ovf, c_dup, c_stored};

    always @* begin
        we = 1'b0;
        wway = hit_w;
        waddr = s1_bucket;
        wdata = ent;
        case (s1_kind)
            K_ADD, K_U2: begin
                wway = free_w;
                wdata = new_ent;
                we = s1_v && (s1_kind == K_ADD || u1_hit) && s1_shares != 32'd0 && !hit && has_free;
            end
            K_EXEC: begin
                wdata = {(e_shares != exec_q), ent[EW-2:32], e_shares - exec_q};
                we = s1_v && hit && exec_q != 32'd0;
            end
            K_CXL: begin
                wdata = cxl_all ? {1'b0, ent[EW-2:0]} : {ent[EW-1:32], e_shares - s1_shares};
                we = s1_v && hit;
            end
            K_DEL, K_U1: begin
                wdata = {1'b0, ent[EW-2:0]};
                we = s1_v && hit;
            end
            default: we = 1'b0;
        endcase
    end

    always @(posedge clk) begin
        if (rst) begin
            clr_busy <= 1'b1;
            clr_addr <= {ADDR_BITS{1'b0}};
            u_pend <= 1'b0;
            s1_v <= 1'b0;
            u1_hit <= 1'b0;
            wq_v <= 1'b0;
            op_valid <= 1'b0;
            c_stored <= 32'd0;
            c_dup <= 32'd0;
            c_ovf <= 32'd0;
            c_unk <= 32'd0;
            c_filt <= 32'd0;
        end else begin
            if (clr_busy) begin
                clr_addr <= clr_addr + 1'b1;
                if (&clr_addr)
                    clr_busy <= 1'b0;
            end
            // stage 0 -> stage 1
            if (u_pend) begin
                s1_v <= 1'b1;
                s1_kind <= K_U2;
                s1_ref <= u_ref2;
                s1_shares <= u_shares;
                s1_price <= u_price;
                s1_bucket <= rd_addr;
                u_pend <= 1'b0;
            end else begin
                s1_v <= pass;
                s1_kind <= kind0;
                s1_slot <= loc_slot;
                s1_buy <= in_buy;
                s1_ref <= in_ref;
                s1_shares <= in_shares;
                s1_price <= in_price;
                s1_ts <= in_ts;
                s1_type <= in_type;
                s1_code <= in_code;
                s1_bucket <= rd_addr;
                if (pass && kind0 == K_U1) begin
                    u_pend <= 1'b1;
                    u_ref2 <= in_ref2;
                    u_shares <= in_shares;
                    u_price <= in_price;
                end
            end
            if (filt)
                c_filt <= c_filt + 32'd1;
            // forwarding register
            wq_v <= we;
            wq_way <= wway;
            wq_addr <= waddr;
            wq_data <= wdata;
            // stage 1 -> book op
            op_valid <= 1'b0;
            op_first <= 1'b1;
            op_last <= 1'b1;
            op_slot <= s1_slot;
            op_ts <= s1_ts;
            op_type <= s1_type;
            op_code <= s1_code;
            if (s1_v) begin
                case (s1_kind)
                    K_ADD: begin
                        if (s1_shares != 32'd0 && hit)
                            c_dup <= c_dup + 32'd1;
                        else if (s1_shares != 32'd0 && !has_free)
                            c_ovf <= c_ovf + 32'd1;
                        if (we) begin
                            c_stored <= c_stored + 32'd1;
                            op_valid <= 1'b1;
                            op_kind <= OP_ADD;
                            op_buy <= s1_buy;
                            op_price <= s1_price;
                            op_qty <= s1_shares;
                        end
                    end
                    K_EXEC, K_CXL, K_DEL, K_U1: begin
                        if (!hit)
                            c_unk <= c_unk + 32'd1;
                        op_valid <= we;
                        op_kind <= OP_SUB;
                        op_buy <= e_buy;
                        op_price <= e_price;
                        op_qty <= (s1_kind == K_EXEC) ? exec_q :
                                  (s1_kind == K_CXL && !cxl_all) ? s1_shares : e_shares;
                        if (s1_kind == K_U1) begin
                            op_last <= 1'b0;
                            u1_hit <= hit;
                            u1_slot <= s1_slot;
                            u1_buy <= e_buy;
                        end
                    end
                    K_U2: begin
                        if (u1_hit) begin
                            if (s1_shares != 32'd0 && hit)
                                c_dup <= c_dup + 32'd1;
                            else if (s1_shares != 32'd0 && !has_free)
                                c_ovf <= c_ovf + 32'd1;
                            if (we)
                                c_stored <= c_stored + 32'd1;
                        end
                        op_valid <= u1_hit;
                        op_kind <= we ? OP_ADD : OP_NOP;
                        op_first <= 1'b0;
                        op_slot <= u1_slot;
                        op_buy <= u1_buy;
                        op_price <= s1_price;
                        op_qty <= s1_shares;
                    end
                    default: begin
                        op_valid <= 1'b1;
                        op_kind <= OP_EVT;
                    end
                endcase
            end
        end
    end

    wire unused_ok = &{1'b0, cfg_wdata[63:17]};
endmodule
